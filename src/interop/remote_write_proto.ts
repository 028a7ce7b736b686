/**
 * The Prometheus remote-write 1.0 wire schema (`prometheus.WriteRequest`), declared here as
 * protobufjs JSON so no .proto file has to ship and be found at run time. Field numbers follow
 * prometheus/prompb/remote.proto and types.proto (the 1.0 specification:
 * https://prometheus.io/docs/concepts/remote_write_spec/). Exemplars (3) and native histograms
 * (4) of a TimeSeries are not declared: protobufjs skips unknown fields, and EMMS stores float
 * samples only (docs/ingest_protocols.md says what is dropped).
 *
 * Encoding, and decoding into objects (decodeWriteRequest: tests, the forwarder's checks), are
 * protobufjs's own generated code. The ingest decoder (remote_write_decoder.ts) walks the same
 * messages with protobufjs's Reader, as protobufjs's static code does, using the field numbers
 * exported below from this schema: every wire read (tags, lengths, varints, doubles, UTF-8
 * strings, skipping unknown fields) is the library's.
 */
import protobuf from 'protobufjs';

const root = protobuf.Root.fromJSON({
  nested: {
    prometheus: {
      nested: {
        WriteRequest: {
          fields: {
            timeseries: { rule: 'repeated', type: 'TimeSeries', id: 1 },
            metadata: { rule: 'repeated', type: 'MetricMetadata', id: 3 },
          },
        },
        TimeSeries: {
          fields: {
            labels: { rule: 'repeated', type: 'Label', id: 1 },
            samples: { rule: 'repeated', type: 'Sample', id: 2 },
          },
        },
        Label: { fields: { name: { type: 'string', id: 1 }, value: { type: 'string', id: 2 } } },
        Sample: { fields: { value: { type: 'double', id: 1 }, timestamp: { type: 'int64', id: 2 } } },
        MetricMetadata: {
          fields: {
            // An enum on the wire is a varint: int32 reads it without declaring the enum.
            type: { type: 'int32', id: 1 },
            metricFamilyName: { type: 'string', id: 2 },
            help: { type: 'string', id: 4 },
            unit: { type: 'string', id: 5 },
          },
        },
      },
    },
  },
});

export const WriteRequestType = root.lookupType('prometheus.WriteRequest');

function fieldId(type: string, field: string): number {
  const id = root.lookupType(type).fields[field]?.id;
  if (id === undefined) throw new Error(`BUG: prometheus.${type} declares no field ${field}`);
  return id;
}

/** Field numbers of the schema above, for a walk with protobufjs's Reader. */
export const FIELD = Object.freeze({
  writeRequestTimeseries: fieldId('prometheus.WriteRequest', 'timeseries'),
  timeSeriesLabels: fieldId('prometheus.TimeSeries', 'labels'),
  timeSeriesSamples: fieldId('prometheus.TimeSeries', 'samples'),
  labelName: fieldId('prometheus.Label', 'name'),
  labelValue: fieldId('prometheus.Label', 'value'),
  sampleValue: fieldId('prometheus.Sample', 'value'),
  sampleTimestamp: fieldId('prometheus.Sample', 'timestamp'),
});

/** Protobuf wire types (https://protobuf.dev/programming-guides/encoding/#structure). */
export const WIRE_VARINT = 0;
export const WIRE_I64 = 1;
export const WIRE_LEN = 2;

/** The tag (field number and wire type) a field is written with. */
export function tagOf(field: number, wireType: number): number {
  return (field << 3) | wireType;
}

/** int64 arrives as a `long` Long object (protobufjs uses the `long` package when installed) or a number. */
export type Int64 = number | { toNumber(): number };

export interface WireLabel {
  name: string;
  value: string;
}
export interface WireSample {
  value: number;
  timestamp: Int64;
}
export interface WireTimeSeries {
  labels: WireLabel[];
  samples: WireSample[];
}
export interface WireWriteRequest {
  timeseries: WireTimeSeries[];
}

export function int64ToNumber(v: Int64): number {
  return typeof v === 'number' ? v : v.toNumber();
}

/** Protobuf bytes of a WriteRequest (not yet snappy-compressed). */
export function encodeWriteRequest(request: { timeseries: Array<{ labels: WireLabel[]; samples: Array<{ value: number; timestamp: number }> }> }): Uint8Array {
  return WriteRequestType.encode(WriteRequestType.fromObject(request)).finish();
}

/** Decodes protobuf bytes; throws protobufjs's error for malformed input. */
export function decodeWriteRequest(bytes: Uint8Array): WireWriteRequest {
  return WriteRequestType.decode(bytes) as unknown as WireWriteRequest;
}
