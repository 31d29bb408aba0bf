-- The run index: one row per run, written by the Run objects, so runs can be listed across
-- objects (ZenML's GET /jobs) and counted (/metrics). The Run object stays the source of truth;
-- this is a copy for queries that span runs.
CREATE TABLE runs (
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
  PRIMARY KEY (pipeline, id)
);
CREATE INDEX runs_by_pipeline_created ON runs (pipeline, created_at DESC);
CREATE INDEX runs_by_pipeline_status ON runs (pipeline, status, created_at DESC);
