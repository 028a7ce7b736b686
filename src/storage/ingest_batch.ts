/** A validated, series-resolved batch as ingest hands it to storage: entry i is point i. */
export interface IngestBatch {
  seriesIds: Uint32Array;
  timestamps: Float64Array;
  values: Float64Array;
  length: number;
}
