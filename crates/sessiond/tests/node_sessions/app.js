"use strict";
// An Express app keeping its sessions as most Node farms do: express-session with
// connect-redis's RedisStore over node-redis, pointed at sessiond's Redis listener.
//
// Run by crates/sessiond/tests/node_sessions.rs as `node app.js REDIS_URL [2|3]` (the RESP
// version; 3 by default, as in node-redis 6): it listens on a free loopback port, prints
// `listening on PORT` once it serves, and answers JSON describing the request's session.
// Several of these share sessiond, as web servers behind a balancer do.

const express = require("express");
const session = require("express-session");
const { RedisStore } = require("connect-redis");
const { createClient } = require("redis");

// The cookie's lifetime: connect-redis turns it into the key's TTL (`SET ... EX 1440`).
const MAX_AGE_MS = 1440 * 1000;

async function main() {
  const [redisUrl, resp = "3"] = process.argv.slice(2);
  if (!redisUrl || !["2", "3"].includes(resp)) {
    throw new Error("usage: node app.js redis://:PASSWORD@HOST:PORT [2|3]");
  }
  // With RESP3 node-redis connects with HELLO 3 AUTH default PASSWORD, with RESP2 with AUTH
  // PASSWORD; then CLIENT SETINFO LIB-VER / LIB-NAME and CLIENT MAINT_NOTIFICATIONS, whose
  // errors it ignores.
  const client = createClient({ url: redisUrl, RESP: Number(resp) });
  client.on("error", (error) => console.error(`redis client error: ${error}`));
  await client.connect();

  const store = new RedisStore({ client, prefix: "sess:" });
  const app = express();
  app.use(
    session({
      store,
      secret: "sessiond end-to-end",
      name: "connect.sid",
      resave: false,
      saveUninitialized: false,
      cookie: { maxAge: MAX_AGE_MS },
    }),
  );

  // A session's fields as the test reads them; an empty session has no user.
  const view = (req) => ({
    id: req.sessionID,
    user: req.session.user ?? null,
    visits: req.session.visits ?? 0,
    server: process.pid,
  });

  // Creates the session (saveUninitialized is off: nothing is stored before this).
  app.get("/login", (req, res) => {
    req.session.user = String(req.query.user);
    req.session.visits = 1;
    res.json(view(req));
  });
  // Reads without changing: express-session then calls the store's touch (EXPIRE).
  app.get("/whoami", (req, res) => res.json(view(req)));
  // Read, modify, write: a lost update would show as a count that skips back.
  app.get("/visit", (req, res) => {
    req.session.visits = (req.session.visits ?? 0) + 1;
    res.json(view(req));
  });
  // A new id for the same data, as after a login (the old key is deleted).
  app.get("/regenerate", (req, res, next) => {
    const { user, visits } = req.session;
    req.session.regenerate((error) => {
      if (error) return next(error);
      req.session.user = user;
      req.session.visits = visits;
      res.json(view(req));
    });
  });
  app.get("/logout", (req, res, next) => {
    const id = req.sessionID;
    req.session.destroy((error) => (error ? next(error) : res.json({ destroyed: id })));
  });
  // The store's listing calls: ids() and length() scan (SCAN MATCH sess:* COUNT 100),
  // all() scans and reads the values with MGET.
  app.get("/sessions", async (req, res, next) => {
    try {
      const ids = (await store.ids()).sort();
      const all = await store.all();
      const users = all.map((s) => s.user).sort();
      res.json({ ids, users, length: await store.length() });
    } catch (error) {
      next(error);
    }
  });
  app.use((error, req, res, _next) => {
    console.error(`request ${req.url} failed: ${error && error.stack ? error.stack : error}`);
    res.status(500).json({ error: String(error && error.message ? error.message : error) });
  });

  const server = app.listen(0, "127.0.0.1", () => {
    console.log(`listening on ${server.address().port}`);
  });
  process.on("SIGTERM", () => {
    server.close();
    client.close().finally(() => process.exit(0));
  });
}

main().catch((error) => {
  console.error(`app failed to start: ${error && error.stack ? error.stack : error}`);
  process.exit(1);
});
