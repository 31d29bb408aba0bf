-- One row written per run index write (D1 bills and limits rows_written).
--
-- Under 0001/0002 a new run's row cost 4 rows written: the rowid table itself, the automatic index
-- that enforced PRIMARY KEY (pipeline, id) (a rowid table keeps its PK in a separate b-tree), and
-- one entry in each secondary index (runs_by_pipeline_created, runs_by_pipeline_status); an update
-- that changed the status rewrote an index entry too (2 rows).
--
-- Here the table is WITHOUT ROWID: the primary key is the table's only b-tree, so a row is one
-- write whether inserted or updated. The key is chosen so that it also serves every query of
-- src/engine/run-index.ts, with no secondary index:
--   * listRuns: WHERE pipeline = ? [AND status = ?] ORDER BY created_at DESC, id DESC LIMIT ?
--     is a backward walk of the pipeline's key range, already in order (no temp b-tree, stops at
--     LIMIT); a status filter is checked on the rows walked;
--   * runsSince: WHERE pipeline = ? AND created_at >= ? is a range of the key;
--   * countRuns, durationHistograms: WHERE pipeline = ? is the pipeline's key range.
-- id stays in the key (after created_at) so that the key is unique and ties on created_at are
-- ordered by id, as listRuns asks. A run's created_at never changes, so its rows keep one key; an id
-- reused after its run expired comes with a new created_at, and the old row was deleted at expiry.
CREATE TABLE runs_one_row (
  pipeline TEXT NOT NULL,
  id TEXT NOT NULL,
  surface TEXT NOT NULL,
  status TEXT NOT NULL,
  run_name TEXT,
  created_at INTEGER NOT NULL,
  finished_at INTEGER,
  duration_ms INTEGER,
  steps_executed INTEGER NOT NULL DEFAULT 0,
  error TEXT,
  cancel_reason TEXT,
  expires_at INTEGER,
  -- JSON previews of the input parameters and the result, as the capture policy allows (NULL when not captured).
  parameters_preview TEXT,
  result_preview TEXT,
  -- The run's event sequence number when the row was written: an older row never replaces a newer one (0002).
  version INTEGER NOT NULL DEFAULT 0,
  PRIMARY KEY (pipeline, created_at, id)
) WITHOUT ROWID;

-- Every row is kept: (pipeline, id) was unique, so (pipeline, created_at, id) is too.
INSERT INTO runs_one_row (pipeline, id, surface, status, run_name, created_at, finished_at, duration_ms, steps_executed,
  error, cancel_reason, expires_at, parameters_preview, result_preview, version)
SELECT pipeline, id, surface, status, run_name, created_at, finished_at, duration_ms, steps_executed,
  error, cancel_reason, expires_at, parameters_preview, result_preview, version
FROM runs;

-- The secondary indexes go with the old table (named here so that none is left behind).
DROP INDEX runs_by_pipeline_status;
DROP INDEX runs_by_pipeline_created;
DROP TABLE runs;
-- The queries keep the table's name.
ALTER TABLE runs_one_row RENAME TO runs;
