/**
 * The text of memory.proto, embedded so that it ships with the build. The copy at the
 * package root is for readers, and a test checks that the two are identical.
 */
export const MEMORY_PROTO_SOURCE = `// The lcc memory artifact, format version 1.0.
//
// A memory file is not a bare protobuf. Its bytes are:
//   0..5      the ASCII magic "LCCMEM"
//   6         the format major version (1)
//   7         the format minor version (0)
//   8..n-35   one MemoryFile message without its checksum field
//   n-34..n-1 the checksum field: 0x7A (field 15, wire type 2), 0x20 (length 32)
//             and the sha256 of bytes 0..n-35, magic included
// Bytes 8..n-1 together are therefore one valid MemoryFile message. Multi-byte values
// inside bytes fields are little-endian. docs/artifact-format.md gives the MUST and
// SHOULD rules for every field and the compatibility rules.

syntax = "proto3";

package lcc.memory.v1;

message MemoryFile {
  // MUST equal bytes 6 and 7 of the file.
  FormatVersion format_version = 1;
  Producer producer = 2;
  ModelFingerprint model = 3;
  Compression compression = 4;
  // Position of each buffer token, compression.buffer_tokens entries.
  repeated int64 positions = 5;
  Provenance provenance = 6;
  Source source = 7;
  // Creation time in RFC 3339 form, UTC, e.g. "2026-12-04T09:30:00.000Z".
  string created_at = 8;
  // One entry per model layer, in layer order. Writers put the layers after every
  // other field except checksum, so that the bulk data comes last.
  repeated Layer layers = 10;
  // sha256 of every file byte before this field. It MUST be the last field.
  bytes checksum = 15;

  // Retired fields: none yet. A retired field's number and name are added to a
  // reserved statement here and are never used again.
}

message FormatVersion {
  uint32 major = 1;
  uint32 minor = 2;
}

message Producer {
  // e.g. "lcc"
  string name = 1;
  // e.g. "0.1.0"
  string version = 2;
}

// The base model a memory was compiled for.
message ModelFingerprint {
  // Readable name, e.g. "stories260K". Used in messages only, never compared.
  string name = 1;
  // e.g. "llama"
  string architecture = 2;
  // Lowercase hexadecimal sha256 digests, 64 characters each.
  string config_sha256 = 3;
  string weights_sha256 = 4;
  string tokenizer_sha256 = 5;
  // Shape numbers a decoder checks every tensor against.
  uint32 num_layers = 6;
  uint32 num_kv_heads = 7;
  uint32 head_dim = 8;
}

message Compression {
  // L, the context tokens compiled into the memory.
  uint32 source_tokens = 1;
  // K, the buffer tokens stored in the memory.
  uint32 buffer_tokens = 2;
  // r, the requested compression ratio, e.g. 16.
  double ratio = 3;
  // Consecutive segments covering [0, L) and [0, K) in order.
  repeated Segment segments = 4;
}

// One independently compiled part of the context: the half-open ranges of context
// tokens and of buffer tokens it covers.
message Segment {
  uint32 source_start = 1;
  uint32 source_end = 2;
  uint32 buffer_start = 3;
  uint32 buffer_end = 4;
}

message Layer {
  KvTensor keys = 1;
  KvTensor values = 2;
}

enum DType {
  DTYPE_UNSPECIFIED = 0;
  DTYPE_FLOAT32 = 1;
  DTYPE_FLOAT16 = 2;
  DTYPE_BFLOAT16 = 3;
  // Symmetric int8 in [-127, 127] with one float32 scale per channel.
  DTYPE_INT8 = 4;
}

// The keys or values of one layer, shape [K, Hkv, Dh] with K the buffer tokens, Hkv the
// key/value heads and Dh the head width. Keys have RoPE applied at positions.
message KvTensor {
  DType dtype = 1;
  // [K, Hkv, Dh]
  repeated uint32 shape = 2;
  // int8 only: float32 scales of shape [Hkv, Dh], one per (head, dim) channel.
  // The value of element [k, h, d] is data[k, h, d] * scales[h, d].
  bytes scales = 3;
  // Zero bytes that make data start at a multiple of 4 bytes from the start of the
  // file. Readers ignore its content.
  bytes alignment = 4;
  // Elements in row-major order, little-endian.
  bytes data = 5;
}

message Provenance {
  // The compile options as a JSON object, e.g. {"ratio":16,"rank":8}.
  string options_json = 1;
  // Optimisation steps run.
  uint32 steps = 2;
  // Loss values at the last step, by name, e.g. "kl" = 0.42.
  repeated NamedValue final_losses = 3;
  double wall_time_seconds = 4;
}

message NamedValue {
  string name = 1;
  double value = 2;
}

message Source {
  // Lowercase hexadecimal sha256 of the context's UTF-8 bytes.
  string sha256 = 1;
  // The context itself, present only when the producer was asked to include it.
  optional string text = 2;
}
`;
