'use strict';
// The seed's backend read path, as a benchmark peer of the users API (bench/users_api.py starts it).
//
// Express + pg + ioredis in one process, cache-aside as the seed did it: GET the key from Redis; on a miss
// SELECT from Postgres, SETEX the encoded body, answer. It serves the same routes and the same bytes as ours
// (`GET /api/users?limit=&cursor=` with our paging envelope and cursor format, `GET /api/users/{id}`), so
// both sides do the same work per request; what differs is only the stack. Differences from ours, on purpose:
// no version key (the seed had none: one GET per request), keys under `seed:` so they never meet ours or
// our invalidation, no single flight, no circuit breaker, and error bodies only roughly like ours.
//
// Environment: DATABASE_URL, REDIS_URL, REDIS_PASSWORD (AUTH, as ours), PORT, HOST, CACHE_ENABLED (false:
// every read goes to Postgres), CACHE_TTL_SECONDS (30, as ours), DB_POOL_MAX_SIZE (10, as ours).

const http = require('node:http');
const express = require('express');
const { Pool, types } = require('pg');
const Redis = require('ioredis');

const PORT = Number(process.env.PORT || 8000);
const HOST = process.env.HOST || '127.0.0.1';
const CACHE_ENABLED = !['false', '0', 'no', 'off'].includes(String(process.env.CACHE_ENABLED || 'true').toLowerCase());
const CACHE_TTL_SECONDS = Number(process.env.CACHE_TTL_SECONDS || 30);
const DEFAULT_LIMIT = 50;
const MAX_LIMIT = 200;
const MAX_ID = 2n ** 63n - 1n;
const KEY_PREFIX = 'seed:users:';

const LIST_PAGE = 'SELECT id, email, name, created_at, updated_at FROM users WHERE id > $1 ORDER BY id LIMIT $2';
const GET_ONE = 'SELECT id, email, name, created_at, updated_at FROM users WHERE id = $1';

// bigint ids as numbers (exact up to 2^53, far beyond the benchmark's 1,000 users).
types.setTypeParser(types.builtins.INT8, (text) => Number(text));
// timestamptz as the text Postgres sends (the session is in UTC), rewritten to what our API writes:
// RFC 3339 with `Z`, microseconds written out in full when not zero. A JS Date would keep milliseconds only.
types.setTypeParser(types.builtins.TIMESTAMPTZ, (text) => {
  const match = /^(\d{4}-\d\d-\d\d) (\d\d:\d\d:\d\d)(?:\.(\d{1,6}))?\+00$/.exec(text);
  if (match === null) throw new Error(`unexpected timestamptz ${text}`);
  const fraction = match[3] ? `.${match[3].padEnd(6, '0')}` : '';
  return `${match[1]}T${match[2]}${fraction}Z`;
});

// Cursors as ours (webapp/users_api/cursor.py): base64url of `u1:<last id>`, without padding.
function encodeCursor(lastId) {
  return Buffer.from(`u1:${lastId}`, 'ascii').toString('base64url');
}

function decodeCursor(cursor) {
  if (!cursor || cursor.length > 64 || !/^[A-Za-z0-9_-]+$/.test(cursor)) return null;
  const match = /^u1:(\d+)$/.exec(Buffer.from(cursor, 'base64url').toString('latin1'));
  if (match === null || BigInt(match[1]) > MAX_ID) return null;
  return Number(match[1]);
}

function problem(res, status, detail) {
  res.status(status).type('application/problem+json');
  res.send(Buffer.from(JSON.stringify({ type: 'about:blank', title: http.STATUS_CODES[status], status, detail })));
}

function sendJson(res, body, cacheStatus) {
  // Node's setHeader, not Express's res.set, and a Buffer body: Express would append `; charset=utf-8`.
  res.setHeader('Content-Type', 'application/json');
  res.setHeader('X-Cache', cacheStatus);
  res.setHeader('Cache-Control', 'private, no-cache');
  res.send(body);
}

// Cache-aside: the cached body, or load() and SETEX it. A Redis error reads Postgres instead. load() answers
// null for "no such row", which is not cached (as ours: a 404 must not outlive a create).
async function cached(redis, key, load) {
  if (redis === null) return [await load(), 'BYPASS'];
  let hit = null;
  try {
    hit = await redis.getBuffer(key);
  } catch {
    return [await load(), 'BYPASS'];
  }
  if (hit !== null) return [hit, 'HIT'];
  const body = await load();
  if (body === null) return [null, 'MISS'];
  try {
    await redis.setex(key, CACHE_TTL_SECONDS, body);
  } catch {
    // the next request tries again
  }
  return [body, 'MISS'];
}

function createApp(pool, redis) {
  const app = express();
  app.disable('x-powered-by');
  app.set('etag', false); // ours sends none; hashing every body would only slow the peer down

  app.get('/healthz', (req, res) => {
    res.type('text/plain').send('ok');
  });

  app.get('/api/users', async (req, res, next) => {
    try {
      const rawLimit = req.query.limit;
      let limit = DEFAULT_LIMIT;
      if (rawLimit !== undefined) {
        if (typeof rawLimit !== 'string' || !/^\d{1,3}$/.test(rawLimit) || +rawLimit < 1 || +rawLimit > MAX_LIMIT) {
          return problem(res, 400, `limit must be an integer from 1 to ${MAX_LIMIT}.`);
        }
        limit = Number(rawLimit);
      }
      let afterId = 0;
      if (req.query.cursor !== undefined) {
        afterId = typeof req.query.cursor === 'string' ? decodeCursor(req.query.cursor) : null;
        if (afterId === null) {
          return problem(res, 400, 'cursor is invalid: pass the next_cursor of a previous page unchanged.');
        }
      }
      const [body, status] = await cached(redis, `${KEY_PREFIX}list:${limit}:${afterId}`, async () => {
        // One row more than asked tells whether another page exists, without a COUNT.
        const { rows } = await pool.query(LIST_PAGE, [afterId, limit + 1]);
        const items = rows.slice(0, limit);
        const nextCursor = rows.length > limit ? encodeCursor(items[items.length - 1].id) : null;
        return Buffer.from(JSON.stringify({ items, next_cursor: nextCursor }));
      });
      return sendJson(res, body, status);
    } catch (err) {
      return next(err);
    }
  });

  app.get('/api/users/:id', async (req, res, next) => {
    try {
      const raw = req.params.id;
      if (!/^\d{1,19}$/.test(raw) || BigInt(raw) < 1n || BigInt(raw) > MAX_ID) {
        return problem(res, 404, `No user with id '${raw}'.`);
      }
      const userId = Number(raw);
      const [body, status] = await cached(redis, `${KEY_PREFIX}user:${userId}`, async () => {
        const { rows } = await pool.query(GET_ONE, [userId]);
        return rows.length === 0 ? null : Buffer.from(JSON.stringify(rows[0]));
      });
      if (body === null) return problem(res, 404, `No user with id ${userId}.`);
      return sendJson(res, body, status);
    } catch (err) {
      return next(err);
    }
  });

  app.use((req, res) => problem(res, 404, `No route for ${req.method} ${req.path}.`));
  // eslint-disable-next-line no-unused-vars
  app.use((err, req, res, next) => {
    console.error(err);
    problem(res, 500, 'The server failed to answer; the error is logged.');
  });
  return app;
}

function main() {
  if (!process.env.DATABASE_URL) {
    console.error('DATABASE_URL is not set');
    process.exit(2);
  }
  const pool = new Pool({
    connectionString: process.env.DATABASE_URL,
    max: Number(process.env.DB_POOL_MAX_SIZE || 10),
    options: '-c TimeZone=UTC',
  });
  const redis =
    CACHE_ENABLED && process.env.REDIS_URL
      ? new Redis(process.env.REDIS_URL, { password: process.env.REDIS_PASSWORD || undefined })
      : null;
  const server = createApp(pool, redis).listen(PORT, HOST, () => {
    console.log(`express-users peer on http://${HOST}:${PORT} (cache ${redis ? 'on' : 'off'})`);
  });
  process.on('SIGTERM', () => {
    server.close();
    Promise.allSettled([pool.end(), redis ? redis.quit() : null]).then(() => process.exit(0));
    server.closeAllConnections();
  });
}

main();
