/**
 * The "Storage back-ends" part of `emms serve --help`: what each back-end is for, what an
 * acknowledgement means on it, and the commands that start its database on Debian. README
 * "Storage back-ends" says the same at more length; the commands here are the ones it tests
 * by hand (initdb as the postgres user, a private redis-server).
 */

export const STORAGE_BACKENDS_HELP = `Storage back-ends (storage.type or METRICS_STORAGE_TYPE; nothing else changes between them,
and --data still holds this node's own files: API keys, alert state, audit log):
  sqlite      The default: one file, DATA/metrics.db, for a single node. An acknowledged
              batch is in SQLite's write-ahead log: it survives a killed process, and with
              storage.durability=full (EMMS_DURABILITY=full) a power loss too.
  postgresql  A PostgreSQL database (METRICS_POSTGRES_URL=postgres://USER:PASSWORD@HOST:5432/DB,
              tables in schema storage.postgres.schema). A batch is acknowledged only after
              PostgreSQL committed it, so it outlives this node; power-loss durability is
              PostgreSQL's (fsync, synchronous_commit). Several EMMS nodes, each with its own
              --port and --data, may share one database: README "Storage back-ends".
              Debian: apt-get install postgresql, then a private instance on port 5433:
                PG=/usr/lib/postgresql/15/bin; D=/srv/emms-pg   # a directory owned by postgres
                su postgres -s /bin/sh -c "echo PASSWORD > $D/pw && $PG/initdb -D $D/data -U emms \\
                  --pwfile=$D/pw --auth=scram-sha-256 && $PG/pg_ctl -D $D/data -l $D/log -w \\
                  -o '-p 5433 -c listen_addresses=127.0.0.1 -k $D' start"
                PGPASSWORD=PASSWORD createdb -h 127.0.0.1 -p 5433 -U emms emms
              and METRICS_POSTGRES_URL=postgres://emms:PASSWORD@127.0.0.1:5433/emms.
  redis       A Redis server (METRICS_REDIS_URL or REDIS_URL=redis://[:PASSWORD@]HOST:6379/0,
              keys under storage.redis.prefix). A batch is acknowledged after Redis applied
              it; what survives a Redis crash is Redis's append-only file setting:
              appendfsync always loses nothing acknowledged, everysec up to ~2 s, and without
              appendonly everything since the last snapshot. EMMS checks at start that Redis
              runs with always (storage.redis.durability=everysec also accepts everysec).
              Debian: apt-get install redis-server, then a private instance:
                redis-server --port 6390 --bind 127.0.0.1 --dir /srv/emms-redis \\
                  --appendonly yes --appendfsync always
              and METRICS_REDIS_URL=redis://127.0.0.1:6390/0.
Database URLs carry a password: --print-config, setting errors and the start-up line show
it as ***, log lines as [redacted].
`;
