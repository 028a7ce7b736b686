/**
 * The Lua scripts of the Redis back-end. Each runs atomically on the server: a read sees one
 * state of the index and the chunk headers; a deletion lands with the rest of its transaction.
 *
 * Scripts build chunk and record keys from ids (`ARGV` prefix .. id) instead of declaring them
 * in KEYS: allowed on a standalone Redis, which is what this back-end supports (redis_keys.ts).
 *
 * Cost, since Redis runs nothing else while a script runs:
 * - CHUNK_ROWS: per series, O(log n + k) for the index range plus one 96-byte GETRANGE per
 *   chunk with max_ts ≥ start (k): the same rows SQLite's (series_id, max_ts) index scan
 *   visits; plus the codec bytes of the chunks that need them, up to INLINE_DATA_BYTES per call
 *   (copying 1 MB costs Redis ~0.3 ms). Past that budget the client fetches the rest with plain
 *   GETRANGEs, which interleave with other clients' commands: a big read never holds Redis for
 *   longer than copying the budget.
 * - NEWEST_EDGE: per series, pages of 128 index entries from the newest down until one has
 *   id ≤ maxChunkId (normally the first page), plus one GETRANGE.
 * - DELETE_WAL_UP_TO: O(removed) in pages of WAL_DELETE_PAGE; UNLINK hands the values' memory
 *   to Redis' background thread, so the script does not pay for freeing ~50 KB per record.
 */

/**
/** Codec bytes one CHUNK_ROWS call returns inline at most (see the cost above). */
export const INLINE_DATA_BYTES = 4 * 1024 * 1024;

/**
 * Rows for aggregationRows / rangeRows. KEYS: series indexes. ARGV: chunk key prefix, start
 * (ZRANGEBYSCORE bound), start, end, maxChunkId, intervalMs, summaries ('1'|'0'), inline byte
 * budget. Returns per series a flat array [id, header, data, …] in max_ts order, where data is
 * 0 (answered from the stats: exactly when SQLite's chunksForAggregation returns data NULL:
 * summaries on, the chunk inside [start, end) and inside one bucket of intervalMs), the codec
 * bytes, or 1 (needed, but past the budget: the client fetches them). A header shorter than
 * 96 bytes (a value missing or damaged) is returned as is, for the client to name.
 */
export const CHUNK_ROWS_SCRIPT = `
local prefix = ARGV[1]
local startBound = ARGV[2]
local startMs = tonumber(ARGV[3])
local endMs = tonumber(ARGV[4])
local maxId = tonumber(ARGV[5])
local interval = tonumber(ARGV[6])
local summaries = ARGV[7] == '1' and interval > 0
local budget = tonumber(ARGV[8])
local out = {}
for i = 1, #KEYS do
  local ids = redis.call('ZRANGEBYSCORE', KEYS[i], startBound, '+inf')
  local rows = {}
  for j = 1, #ids do
    local id = ids[j]
    if tonumber(id) <= maxId then
      local h = redis.call('GETRANGE', prefix .. id, 0, 95)
      if #h < 96 then
        rows[#rows + 1] = id; rows[#rows + 1] = h; rows[#rows + 1] = 1
      else
        local minTs, maxTs = struct.unpack('<dd', h, 25)
        if minTs < endMs then
          local fromStats = summaries and minTs >= startMs and maxTs < endMs
            and math.floor(minTs / interval) == math.floor(maxTs / interval)
          rows[#rows + 1] = id; rows[#rows + 1] = h
          if fromStats then
            rows[#rows + 1] = 0
          elseif budget > 0 then
            local data = redis.call('GETRANGE', prefix .. id, 96, -1)
            budget = budget - #data
            rows[#rows + 1] = data
          else
            rows[#rows + 1] = 1
          end
        end
      end
    end
  end
  out[i] = rows
end
return out
`;

/**
 * The chunk holding each series' newest point below a bound (ties: the higher chunk id), with
 * id ≤ maxChunkId. KEYS: series indexes. ARGV: chunk key prefix, upper bound ('(t' or '+inf'),
 * maxChunkId. Returns per series '' (none) or [id, header].
 */
export const NEWEST_EDGE_SCRIPT = `
local prefix = ARGV[1]
local upper = ARGV[2]
local maxId = tonumber(ARGV[3])
local out = {}
for i = 1, #KEYS do
  local best, bestId, bestScore = nil, nil, nil
  local offset = 0
  local scanning = true
  while scanning do
    local page = redis.call('ZREVRANGEBYSCORE', KEYS[i], upper, '-inf', 'WITHSCORES', 'LIMIT', offset, 128)
    for j = 1, #page, 2 do
      local score = tonumber(page[j + 1])
      if bestScore ~= nil and score < bestScore then scanning = false; break end
      local id = tonumber(page[j])
      if id <= maxId and (bestId == nil or id > bestId) then best = page[j]; bestId = id; bestScore = score end
    end
    if #page < 256 then scanning = false end
    offset = offset + 128
  end
  if best == nil then out[i] = '' else out[i] = { best, redis.call('GETRANGE', prefix .. best, 0, 95) } end
end
return out
`;

/** Records deleted per UNLINK/ZREM call: keeps unpack() far below Lua's C-stack limit (8,000). */
export const WAL_DELETE_PAGE = 1000;

/**
 * deleteWalRecordsUpTo. KEYS[1]: the wal index. ARGV: record key prefix, highest id ('+inf'
 * for all). Returns the number of records deleted.
 */
export const DELETE_WAL_UP_TO_SCRIPT = `
local removed = 0
while true do
  local ids = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[2], 'LIMIT', 0, ${WAL_DELETE_PAGE})
  if #ids == 0 then break end
  local keys = {}
  for i = 1, #ids do keys[i] = ARGV[1] .. ids[i] end
  redis.call('UNLINK', unpack(keys))
  redis.call('ZREM', KEYS[1], unpack(ids))
  removed = removed + #ids
end
return removed
`;
