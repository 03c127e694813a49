/**
 * Models that lcc knows by a short name, with the hub files that make them up and their
 * pinned sizes and sha256 hashes. A pull of a known model checks every file against
 * these values, whatever the server's headers say.
 */

/** One file of a known model. */
export interface KnownModelFile {
  /** Path inside the hub repository, e.g. "stories260K/stories260K.bin". */
  readonly remotePath: string;
  /** File name inside the local model folder, e.g. "stories260K.bin". */
  readonly localName: string;
  readonly size: number; // bytes, 1056540
  readonly sha256: string; // 64 lowercase hex digits
}

export interface KnownModel {
  /** Short name used on the command line and as the cache folder name, e.g. "stories260K". */
  readonly name: string;
  /** Hub repository, e.g. "karpathy/tinyllamas". */
  readonly repo: string;
  readonly revision: string; // "main"
  readonly description: string;
  readonly files: readonly KnownModelFile[];
}

const KNOWN_MODEL_LIST: readonly KnownModel[] = [
  {
    name: "stories260K",
    repo: "karpathy/tinyllamas",
    revision: "main",
    description: "260K-parameter Llama trained on TinyStories (llama2.c checkpoint and its 512-token tokenizer, MIT licence)",
    files: [
      {
        remotePath: "stories260K/stories260K.bin",
        localName: "stories260K.bin",
        size: 1_056_540,
        sha256: "b0a507e7ad0f626624f17112325e66691f9076d622e1d3274d103d00299f2696",
      },
      {
        remotePath: "stories260K/tok512.bin",
        localName: "tok512.bin",
        size: 6_227,
        sha256: "037cb335abb25d1fa9e8ecae30ed2a3a8ace9302862ebcdc05d51a6bbb10c312",
      },
    ],
  },
];

/** Known models by name. */
export const KNOWN_MODELS: ReadonlyMap<string, KnownModel> = new Map(KNOWN_MODEL_LIST.map((model) => [model.name, Object.freeze(model)]));
