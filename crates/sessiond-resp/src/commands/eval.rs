//! `EVAL`, `EVALSHA`, `EVAL_RO`, `EVALSHA_RO`: running a Lua script, atomically over the keys
//! it declares (see `script` for how).
//!
//! phpredis releases its session lock with `EVALSHA` of a compare-and-delete script, and on
//! `NOSCRIPT` sends it with `EVAL`; without scripts its locks would stay until they expire.

use std::borrow::Cow;
use std::sync::Arc;
use std::time::Duration;

use sessiond_engine::Key;

use super::{Call, Outcome};
use crate::encoder::Encoder;
use crate::reply::CommandError;
use crate::script::{self, Run, Script};
use crate::{Context, args};

/// `EVAL script numkeys [key ...] [arg ...]`.
pub(crate) fn eval(call: &mut Call<'_, '_>) -> Outcome {
    run(call, false, false)
}

/// `EVALSHA sha1 numkeys [key ...] [arg ...]`.
pub(crate) fn evalsha(call: &mut Call<'_, '_>) -> Outcome {
    run(call, true, false)
}

/// `EVAL_RO`: as `EVAL`, writes refused.
pub(crate) fn eval_ro(call: &mut Call<'_, '_>) -> Outcome {
    run(call, false, true)
}

/// `EVALSHA_RO`: as `EVALSHA`, writes refused.
pub(crate) fn evalsha_ro(call: &mut Call<'_, '_>) -> Outcome {
    run(call, true, true)
}

/// `-NOSCRIPT`, which clients read to send the script itself.
pub(crate) fn no_script() -> CommandError {
    CommandError::Raw(Cow::Borrowed(
        "NOSCRIPT No matching script. Please use EVAL.",
    ))
}

fn run(call: &mut Call<'_, '_>, by_sha: bool, read_only: bool) -> Outcome {
    // `EXEC` runs a script command by command, never inside its own block: a script locks
    // its keys itself, and inside another block that would wait forever.
    if call.block.is_some() {
        return Err(CommandError::WholeKeyspaceInScript);
    }
    // Redis refuses a name of the wrong length before it reads the number of keys.
    if by_sha && call.arg(1).len() != 40 {
        return Err(no_script());
    }
    let numkeys = args::integer(call.arg(2))?;
    if numkeys > (call.argc() - 3) as i64 {
        return Err(CommandError::message(
            "Number of keys can't be greater than number of args",
        ));
    }
    let numkeys = usize::try_from(numkeys)
        .map_err(|_| CommandError::message("Number of keys can't be negative"))?;
    let ctx = call.ctx;
    let scripts = &ctx.shared.scripts;
    let script = if by_sha {
        scripts.get(call.arg(1)).ok_or_else(no_script)?
    } else {
        match scripts.get(&script::sha1_hex(call.arg(1))) {
            Some(script) => script,
            None => Arc::new(script::parse(call.arg(1)).map_err(CommandError::message)?),
        }
    };
    let mut vm = scripts.take_vm().map_err(CommandError::message)?;
    let function = match vm.function(&script) {
        Ok(function) => function,
        Err(error) => {
            scripts.give_back(vm);
            return Err(compile_error(error));
        }
    };
    if !by_sha {
        scripts.insert(Arc::clone(&script));
    }
    let names: Vec<&[u8]> = (3..3 + numkeys).map(|index| call.arg(index)).collect();
    let keys: Vec<Key<'_>> = (3..3 + numkeys).map(|index| call.key(index)).collect();
    let argv: Vec<&[u8]> = (3 + numkeys..call.argc())
        .map(|index| call.arg(index))
        .collect();
    let read_only = read_only || script.no_writes;
    let mut session = call.session.for_script();
    let version = call.session.version;
    let out = &mut *call.out;
    let running = scripts.start();
    let clock = ctx.shared.config.monotonic.0;
    let started = clock();
    // `CONFIG SET` takes any number of milliseconds; a deadline beyond a day is a day.
    let limit = scripts.time_limit().min(Duration::from_secs(24 * 3600));
    let deadline = started.checked_add(limit).unwrap_or(started);
    ctx.engine.atomically(&keys, ctx.now, |block| {
        let run = Run {
            session: &mut session,
            ctx,
            block,
            read_only,
            running: &running,
            deadline,
            clock,
        };
        vm.run(
            &function,
            &script.sha,
            &names,
            &argv,
            run,
            &mut Encoder::new(out, version),
        );
    });
    scripts.finish(&running);
    scripts.give_back(vm);
    Ok(())
}

/// `Error compiling script (new function): <Lua's message>`.
pub(crate) fn compile_error(error: script::CompileError) -> CommandError {
    CommandError::message(format!(
        "Error compiling script (new function): {}",
        error.0
    ))
}

/// Compiles `script` (in an interpreter of the pool) and caches it: `SCRIPT LOAD`.
pub(crate) fn load(ctx: &Context<'_>, script: Script) -> Result<(), CommandError> {
    let scripts = &ctx.shared.scripts;
    let mut vm = scripts.take_vm().map_err(CommandError::message)?;
    let compiled = vm.function(&script);
    scripts.give_back(vm);
    compiled.map_err(compile_error)?;
    scripts.insert(Arc::new(script));
    Ok(())
}
