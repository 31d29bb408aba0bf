/**
 * Between edgeserve's message values and StateFun's `TypedValue`s: how a step's input becomes a
 * function's argument, and how what a function emits (egress, messages) becomes message values.
 * Built-in StateFun types (`io.statefun.types/*`) are their protobuf wrappers; any other type name
 * carries JSON (the SDKs' JsonType) or raw bytes.
 */
import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import { bytesAsValue, utf8Text, type JsonValue, type Message, type MessageValue } from "../pipeline/message";
import { KafkaProducerRecordSchema, KinesisEgressRecordSchema } from "./proto/io/statefun/egress_pb";
import { TypedValueSchema, type TypedValue } from "./proto/io/statefun/request_reply_pb";
import {
  BooleanWrapperSchema,
  DoubleWrapperSchema,
  FloatWrapperSchema,
  IntWrapperSchema,
  LongWrapperSchema,
  StringWrapperSchema,
} from "./proto/io/statefun/types_pb";

export const STATEFUN_TYPES = {
  string: "io.statefun.types/string",
  int: "io.statefun.types/int",
  long: "io.statefun.types/long",
  float: "io.statefun.types/float",
  double: "io.statefun.types/double",
  bool: "io.statefun.types/bool",
} as const;

/** The type name edgeserve gives a JSON argument when the step names none. */
export const JSON_TYPENAME = "edgeserve.types/json";
/** … and a bytes argument. */
export const BYTES_TYPENAME = "edgeserve.types/bytes";

const KAFKA_RECORD_TYPENAME = "type.googleapis.com/io.statefun.sdk.egress.KafkaProducerRecord";
const KINESIS_RECORD_TYPENAME = "type.googleapis.com/io.statefun.sdk.egress.KinesisEgressRecord";

/** How a step reads what its function emits: as JSON, as UTF-8 text, as bytes, or whichever fits. */
export type OutputDecoding = "auto" | "json" | "string" | "bytes";

export class TypedValueError extends Error {
  override readonly name = "TypedValueError";
}

const INT32 = { min: -(2 ** 31), max: 2 ** 31 - 1 };

function defaultTypename(value: MessageValue): string {
  if (value instanceof Uint8Array) return BYTES_TYPENAME;
  if (typeof value === "string") return STATEFUN_TYPES.string;
  if (typeof value === "boolean") return STATEFUN_TYPES.bool;
  if (typeof value === "number" && Number.isInteger(value) && value >= INT32.min && value <= INT32.max) return STATEFUN_TYPES.int;
  return JSON_TYPENAME;
}

/** A message as a function's argument: its own type name if it came from a function, else `argumentType` or one that fits. */
export function encodeArgument(message: Message, argumentType: string | undefined): TypedValue {
  // A function's message that carried no value (`has_value` false) reaches its target so.
  if (message.typename && message.value === null) return create(TypedValueSchema, { typename: message.typename, hasValue: false });
  if (message.typename && message.value instanceof Uint8Array) {
    return create(TypedValueSchema, { typename: message.typename, hasValue: true, value: message.value });
  }
  const typename = argumentType ?? defaultTypename(message.value);
  return create(TypedValueSchema, { typename, hasValue: true, value: encodeValue(typename, message.value) });
}

function encodeValue(typename: string, value: MessageValue): Uint8Array {
  const wrong = (what: string) => new TypedValueError(`an argument of type ${typename} must be ${what}, got ${describe(value)}`);
  switch (typename) {
    case STATEFUN_TYPES.string:
      if (typeof value !== "string") throw wrong("a string");
      return toBinary(StringWrapperSchema, create(StringWrapperSchema, { value }));
    case STATEFUN_TYPES.bool:
      if (typeof value !== "boolean") throw wrong("a boolean");
      return toBinary(BooleanWrapperSchema, create(BooleanWrapperSchema, { value }));
    case STATEFUN_TYPES.int:
      if (typeof value !== "number" || !Number.isInteger(value) || value < INT32.min || value > INT32.max) throw wrong("a 32-bit integer");
      return toBinary(IntWrapperSchema, create(IntWrapperSchema, { value }));
    case STATEFUN_TYPES.long:
      if (typeof value !== "number" || !Number.isSafeInteger(value)) throw wrong("an integer");
      return toBinary(LongWrapperSchema, create(LongWrapperSchema, { value: BigInt(value) }));
    case STATEFUN_TYPES.float:
      if (typeof value !== "number") throw wrong("a number");
      return toBinary(FloatWrapperSchema, create(FloatWrapperSchema, { value }));
    case STATEFUN_TYPES.double:
      if (typeof value !== "number") throw wrong("a number");
      return toBinary(DoubleWrapperSchema, create(DoubleWrapperSchema, { value }));
    default:
      return value instanceof Uint8Array ? value : new TextEncoder().encode(JSON.stringify(value));
  }
}

/** A typed value a function emitted, as a message value (null when it has no value). */
export function decodeTypedValue(typed: TypedValue, decoding: OutputDecoding): MessageValue {
  if (!typed.hasValue) return null;
  const bytes = typed.value;
  switch (typed.typename) {
    case STATEFUN_TYPES.string:
      return fromBinary(StringWrapperSchema, bytes).value;
    case STATEFUN_TYPES.bool:
      return fromBinary(BooleanWrapperSchema, bytes).value;
    case STATEFUN_TYPES.int:
      return fromBinary(IntWrapperSchema, bytes).value;
    case STATEFUN_TYPES.float:
      return fromBinary(FloatWrapperSchema, bytes).value;
    case STATEFUN_TYPES.double:
      return fromBinary(DoubleWrapperSchema, bytes).value;
    case STATEFUN_TYPES.long: {
      const long = fromBinary(LongWrapperSchema, bytes).value;
      return Number.isSafeInteger(Number(long)) ? Number(long) : long.toString();
    }
    case KAFKA_RECORD_TYPENAME:
      return decodeBytes(fromBinary(KafkaProducerRecordSchema, bytes).valueBytes, decoding, typed.typename);
    case KINESIS_RECORD_TYPENAME:
      return decodeBytes(fromBinary(KinesisEgressRecordSchema, bytes).valueBytes, decoding, typed.typename);
    default:
      return decodeBytes(bytes, decoding, typed.typename);
  }
}

function decodeBytes(bytes: Uint8Array, decoding: OutputDecoding, typename: string): MessageValue {
  if (decoding === "bytes") return bytes;
  if (decoding === "auto") return bytesAsValue(bytes);
  const text = utf8Text(bytes);
  if (text === undefined) throw new TypedValueError(`a value of type ${typename} is not UTF-8 text`);
  if (decoding === "string") return text;
  try {
    return JSON.parse(text) as JsonValue;
  } catch {
    throw new TypedValueError(`a value of type ${typename} is not JSON`);
  }
}

function describe(value: MessageValue): string {
  if (value instanceof Uint8Array) return `${value.byteLength} bytes`;
  return value === null ? "null" : Array.isArray(value) ? "an array" : typeof value;
}
