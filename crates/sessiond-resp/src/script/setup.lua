-- Builds a script's sandbox, as Redis 7.0 builds it: read-only libraries and globals, errors
-- for unknown globals, pcall answering an error table's text, and no way to catch the error
-- that stops a script past its time limit.
local G, R, killed, unwrap = ...
local error, type, tostring, select = error, type, tostring, select
local rawpcall, rawxpcall, resume = pcall, xpcall, coroutine.resume
local rawset, setmetatable, getmetatable = rawset, setmetatable, getmetatable
local rawloadstring, rawload, setfenv = loadstring, load, setfenv
local concat = table.concat

local readonly = setmetatable({}, {__mode = 'k'})
local function modify()
  error('Attempt to modify a readonly table', 2)
end
local function protect(t)
  local proxy = {}
  setmetatable(proxy, {__index = t, __newindex = modify, __metatable = false})
  readonly[proxy] = true
  return proxy
end

-- What a caught error becomes: what Redis's own pcall answers (an error table's text), and
-- never the error that stops a script past its time limit. Errors raised by sessiond's
-- functions of Rust arrive wrapped; `unwrap` gives the value Redis would have raised.
local function caught(ok, ...)
  if ok then return ok, ... end
  if killed() then error((...), 0) end
  return false, unwrap((...), true)
end
local function resumed(ok, ...)
  if ok then return ok, ... end
  if killed() then error((...), 0) end
  return false, unwrap((...), false)
end

G.pcall = function(...) return caught(rawpcall(...)) end
G.xpcall = function(f, handler)
  return resumed(rawxpcall(f, function(e)
    if killed() then return e end
    return handler(unwrap(e, false))
  end))
end
G.rawset = function(t, ...)
  if readonly[t] then error('Attempt to modify a readonly table', 0) end
  return rawset(t, ...)
end
G.setmetatable = function(t, ...)
  if readonly[t] then error('Attempt to modify a readonly table', 0) end
  return setmetatable(t, ...)
end

-- Code a script compiles runs in the sandbox too, and binary chunks are refused (a crafted
-- one can crash Lua 5.1).
local env
local function sandboxed(f, message)
  if f then setfenv(f, env) end
  return f, message
end
G.loadstring = function(text, name)
  if type(text) == 'string' and text:byte(1) == 27 then
    return nil, 'binary chunks are not allowed'
  end
  return sandboxed(rawloadstring(text, name))
end
G.load = function(reader, name)
  local text = reader
  if type(reader) == 'function' then
    local pieces = {}
    while true do
      local piece = reader()
      if piece == nil or piece == '' then break end
      pieces[#pieces + 1] = piece
    end
    text = concat(pieces)
  end
  return G.loadstring(text, name)
end

local coroutine = {}
for name, f in pairs(G.coroutine) do coroutine[name] = f end
coroutine.resume = function(co, ...) return resumed(resume(co, ...)) end
G.coroutine = protect(coroutine)

for _, name in ipairs({'string', 'math', 'table', 'cjson', 'bit', 'cmsgpack', 'struct'}) do
  G[name] = protect(G[name])
end
-- The strings' metatable leads to the real string library: hide both.
local strings = getmetatable('')
strings.__index = G.string
strings.__metatable = false

G.redis = protect(R)

env = protect(G)
rawset(G, '_G', env)
setmetatable(G, {__index = function(_, name)
  error("Script attempted to access nonexistent global variable '" .. tostring(name) .. "'", 2)
end})

-- Runs a script for the server: `ok, reply`. Only the first result is the reply, and only it
-- leaves the script: Lua 5.1's xpcall and mlua both push onto a stack that many results
-- (`return unpack(t)` with a long `t`) have filled up to its end.
local script
local function first() return (script()) end
local function run(f, handler)
  script = f
  local ok, reply = rawxpcall(first, handler)
  script = nil
  return ok, reply
end

return env, run
