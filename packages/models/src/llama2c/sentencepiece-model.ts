/**
 * Decoder for SentencePiece model files (`*.model`, a serialized `sentencepiece.ModelProto`).
 *
 * Only the fields the tokenizer converter reads are declared. Field numbers and defaults
 * follow `sentencepiece_model.proto` from google/sentencepiece, and protobufjs skips
 * every other field.
 */

import protobuf from "protobufjs";

const SENTENCEPIECE_PROTO_SOURCE = `
syntax = "proto2";
package sentencepiece;

message TrainerSpec {
  enum ModelType {
    UNIGRAM = 1;
    BPE = 2;
    WORD = 3;
    CHAR = 4;
  }
  optional ModelType model_type = 3 [default = UNIGRAM];
  optional int32 vocab_size = 4 [default = 8000];
  optional bool byte_fallback = 35 [default = false];
  optional int32 unk_id = 40 [default = 0];
  optional int32 bos_id = 41 [default = 1];
  optional int32 eos_id = 42 [default = 2];
  optional int32 pad_id = 43 [default = -1];
}

message NormalizerSpec {
  optional string name = 1;
  optional bool add_dummy_prefix = 3 [default = true];
  optional bool remove_extra_whitespaces = 4 [default = true];
  optional bool escape_whitespaces = 5 [default = true];
}

message ModelProto {
  message SentencePiece {
    enum Type {
      NORMAL = 1;
      UNKNOWN = 2;
      CONTROL = 3;
      USER_DEFINED = 4;
      UNUSED = 5;
      BYTE = 6;
    }
    optional string piece = 1;
    optional float score = 2;
    optional Type type = 3 [default = NORMAL];
  }
  repeated SentencePiece pieces = 1;
  optional TrainerSpec trainer_spec = 2;
  optional NormalizerSpec normalizer_spec = 3;
}
`;

export type SentencePieceType = "NORMAL" | "UNKNOWN" | "CONTROL" | "USER_DEFINED" | "UNUSED" | "BYTE";

export interface SentencePieceEntry {
  readonly piece: string; // "▁the"
  readonly score: number; // -6
  readonly type: SentencePieceType;
}

export interface SentencePieceModel {
  readonly pieces: readonly SentencePieceEntry[];
  readonly modelType: "UNIGRAM" | "BPE" | "WORD" | "CHAR";
  readonly byteFallback: boolean;
  readonly unkId: number; // 0
  readonly bosId: number; // 1, or -1 when disabled
  readonly eosId: number; // 2, or -1 when disabled
  readonly addDummyPrefix: boolean;
  readonly removeExtraWhitespaces: boolean;
  readonly escapeWhitespaces: boolean;
}

let modelProtoType: protobuf.Type | undefined;

function modelProto(): protobuf.Type {
  modelProtoType ??= protobuf.parse(SENTENCEPIECE_PROTO_SOURCE, { keepCase: true }).root.lookupType("sentencepiece.ModelProto");
  return modelProtoType;
}

interface DecodedModelProto {
  pieces?: { piece?: string; score?: number; type?: SentencePieceType }[];
  trainer_spec?: {
    model_type?: SentencePieceModel["modelType"];
    byte_fallback?: boolean;
    unk_id?: number;
    bos_id?: number;
    eos_id?: number;
  };
  normalizer_spec?: { add_dummy_prefix?: boolean; remove_extra_whitespaces?: boolean; escape_whitespaces?: boolean };
}

/**
 * Decodes a SentencePiece ModelProto. Missing optional fields take the defaults of the
 * upstream schema. Throws protobufjs's error when the bytes are not a valid message.
 */
export function decodeSentencePieceModel(bytes: Uint8Array): SentencePieceModel {
  const type = modelProto();
  const decoded = type.toObject(type.decode(bytes), { defaults: true, enums: String, longs: Number }) as DecodedModelProto;
  const trainer = decoded.trainer_spec ?? {};
  const normalizer = decoded.normalizer_spec ?? {};
  return {
    pieces: (decoded.pieces ?? []).map((entry) => ({ piece: entry.piece ?? "", score: entry.score ?? 0, type: entry.type ?? "NORMAL" })),
    modelType: trainer.model_type ?? "UNIGRAM",
    byteFallback: trainer.byte_fallback ?? false,
    unkId: trainer.unk_id ?? 0,
    bosId: trainer.bos_id ?? 1,
    eosId: trainer.eos_id ?? 2,
    addDummyPrefix: normalizer.add_dummy_prefix ?? true,
    removeExtraWhitespaces: normalizer.remove_extra_whitespaces ?? true,
    escapeWhitespaces: normalizer.escape_whitespaces ?? true,
  };
}
