/**
 * The server's memories: the engine's memory store, backed by the memory folder when the
 * server has one. A memory added with a folder is written there first and then added to
 * the engine from its file, so the engine can read it again after evicting it.
 */

import { type Memory, readMemoryFile } from "@lcc/artifact";
import { type Engine, type MemoryInfo, memoryId } from "@lcc/serving";
import type { FastifyBaseLogger } from "fastify";
import type { MemoryDirectory } from "./directory.js";

export class MemoryRegistry {
  constructor(
    private readonly engine: Engine,
    private readonly directory: MemoryDirectory | null,
    private readonly log: FastifyBaseLogger,
  ) {}

  /** Whether memories are written to a folder and survive a restart. */
  get persistent(): boolean {
    return this.directory !== null;
  }

  /**
   * Adds every memory file of the folder to the engine. A file that cannot be read, was
   * compiled for another model, or whose content does not match its name is logged and
   * skipped, so one bad file does not keep the server from starting.
   */
  async loadDirectory(): Promise<{ loaded: number; skipped: number }> {
    if (this.directory === null) return { loaded: 0, skipped: 0 };
    let loaded = 0;
    let skipped = 0;
    for (const id of await this.directory.ids()) {
      const file = this.directory.fileOf(id);
      try {
        const memory = await readMemoryFile(file, { expect: this.engine.fingerprint });
        const actualId = memoryId(memory);
        if (actualId !== id) {
          this.log.warn(
            { file, memoryId: actualId },
            "skipped a memory file whose name is not its memory id; rename it to <id>.lccm or upload it again",
          );
          skipped++;
          continue;
        }
        await this.engine.addMemory(file);
        loaded++;
      } catch (error) {
        this.log.warn({ file, err: error }, "skipped a memory file that could not be loaded");
        skipped++;
      }
    }
    const others = await this.directory.otherFiles();
    if (others.length > 0)
      this.log.info(
        { folder: this.directory.folder, files: others.slice(0, 10), count: others.length },
        "ignored files in the memory folder that are not <id>.lccm",
      );
    return { loaded, skipped };
  }

  /**
   * Adds a memory from the bytes of a memory file and returns its id and whether it was
   * new. The engine checks the bytes first (format, checksum, model, size), so nothing is
   * written for an invalid file. With a folder the bytes are stored unchanged.
   */
  async addFile(bytes: Uint8Array): Promise<{ id: string; created: boolean }> {
    const known = new Set(this.engine.memories().map((memory) => memory.id));
    const id = await this.engine.addMemory(bytes);
    const created = !known.has(id);
    if (this.directory !== null) {
      try {
        const file = await this.directory.write(id, bytes);
        await this.engine.addMemory(file);
      } catch (error) {
        if (created) this.engine.removeMemory(id);
        throw error;
      }
    }
    this.log.info({ memoryId: id, created, bytes: bytes.byteLength }, created ? "memory added" : "memory uploaded again");
    return { id, created };
  }

  has(id: string): boolean {
    return this.info(id) !== undefined;
  }

  info(id: string): MemoryInfo | undefined {
    return this.engine.memories().find((memory) => memory.id === id);
  }

  list(): MemoryInfo[] {
    return this.engine.memories().sort((a, b) => a.id.localeCompare(b.id));
  }

  /** Returns the decoded memory, read again from its file when it was evicted. */
  async memory(id: string): Promise<Memory> {
    return this.engine.getMemory(id);
  }

  /** Removes a memory and its file; returns false when it was unknown. Requests already running keep reading it. */
  async remove(id: string): Promise<boolean> {
    const known = this.engine.removeMemory(id);
    const hadFile = this.directory === null ? false : await this.directory.remove(id);
    if (known || hadFile) this.log.info({ memoryId: id }, "memory removed");
    return known || hadFile;
  }
}
