/**
 * Errors raised while reading a memory file. Each message ends with a `hint:` line that
 * tells the user what to do next.
 */

import { FileFormatError, LccError } from "@lcc/tensor";

/** The bytes are not a valid memory file: wrong magic, malformed protobuf or inconsistent fields. */
export class MemoryFormatError extends FileFormatError {}

/** The file's format version is one this lcc cannot read. */
export class MemoryVersionError extends MemoryFormatError {}

/** The checksum at the end of the file is missing or does not match its content. */
export class MemoryChecksumError extends MemoryFormatError {}

/** The memory was compiled for another base model than the one it is used with. */
export class MemoryModelMismatchError extends LccError {}

/** A memory file could not be read or written: not found, no permission, disk full. */
export class MemoryFileError extends LccError {}
