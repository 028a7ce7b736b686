/**
 * Loads a WebAssembly module built from assembly/ and owns its memory.
 *
 * Every kernel works on raw pointers into the module's linear memory (STYLE.md habit 6):
 * a call allocates its input and output regions with `alloc`, copies columns in with
 * `writeF64`/`writeBytes`, calls the kernel, copies results out, and `reset`s the heap. The
 * views over `memory.buffer` are rebuilt whenever a grow detaches the old buffer, so callers
 * must take views from `f64()`/`u8()` after each kernel call, never keep them across one.
 *
 * One instance per module and thread: `wasmInstance(name)` instantiates `build/<name>.wasm` on
 * its first call in the main thread or a piscina worker and returns that instance afterwards.
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

/** Exports every module built from assembly/ has (assembly/scratch.ts). */
export interface ScratchExports {
  readonly memory: WebAssembly.Memory;
  scratchAlloc(bytes: number): number;
  scratchReset(): void;
}

/** Error raised by an AssemblyScript `abort` (an assertion in a debug build, or out of memory). */
export class WasmAbortError extends Error {
  constructor(message: string, readonly file: string, readonly line: number, readonly column: number) {
    super(`BUG: wasm abort: ${message} at ${file}:${line}:${column}`);
    this.name = 'WasmAbortError';
  }
}

const moduleCache = new Map<string, WebAssembly.Module>();

/** Path of a built module; `name` is the file stem in build/ (`emms`, `emms.debug`, `iforest`, …). */
export function wasmPath(name: string): string {
  // src/core/ and dist/core/ are both two levels below the package root, where build/ lives.
  return fileURLToPath(new URL(`../../build/${name}.wasm`, import.meta.url));
}

/** Compiles (once per thread) the module `build/<name>.wasm`. */
export function loadWasmModule(name: string): WebAssembly.Module {
  let compiled = moduleCache.get(name);
  if (compiled === undefined) {
    let bytes: Uint8Array<ArrayBuffer>;
    try {
      bytes = new Uint8Array(readFileSync(wasmPath(name)));
    } catch (cause) {
      throw new Error(`emms: build/${name}.wasm is missing; run \`npm run build:wasm\` (npm install does it)`, { cause });
    }
    compiled = new WebAssembly.Module(bytes);
    moduleCache.set(name, compiled);
  }
  return compiled;
}

/** Reads an AssemblyScript string (UTF-16, byte length stored 4 bytes before it) out of memory. */
function readAsString(memory: WebAssembly.Memory, ptr: number): string {
  if (ptr === 0) return '';
  const bytes = new Uint32Array(memory.buffer, ptr - 4, 1)[0] ?? 0;
  return String.fromCharCode(...new Uint16Array(memory.buffer, ptr, bytes >>> 1));
}

export class WasmInstance<E extends ScratchExports> {
  readonly exports: E;
  #buffer: ArrayBuffer;
  #u8: Uint8Array;
  #f64: Float64Array;
  #i32: Int32Array;
  #u32: Uint32Array;

  constructor(module: WebAssembly.Module) {
    let memoryRef: WebAssembly.Memory | undefined;
    const instance = new WebAssembly.Instance(module, {
      env: {
        abort: (msg: number, file: number, line: number, column: number): never => {
          const mem = memoryRef!;
          throw new WasmAbortError(readAsString(mem, msg), readAsString(mem, file), line, column);
        },
        seed: (): number => Date.now(),
      },
    });
    this.exports = instance.exports as unknown as E;
    memoryRef = this.exports.memory;
    this.#buffer = this.exports.memory.buffer;
    this.#u8 = new Uint8Array(this.#buffer);
    this.#f64 = new Float64Array(this.#buffer);
    this.#i32 = new Int32Array(this.#buffer);
    this.#u32 = new Uint32Array(this.#buffer);
  }

  #refresh(): void {
    const buffer = this.exports.memory.buffer;
    if (buffer !== this.#buffer) {
      this.#buffer = buffer;
      this.#u8 = new Uint8Array(buffer);
      this.#f64 = new Float64Array(buffer);
      this.#i32 = new Int32Array(buffer);
      this.#u32 = new Uint32Array(buffer);
    }
  }

  /** Whole-memory byte view, valid until the next kernel call or alloc. */
  u8(): Uint8Array {
    this.#refresh();
    return this.#u8;
  }
  /** Whole-memory float64 view (index = ptr >>> 3), valid until the next kernel call or alloc. */
  f64(): Float64Array {
    this.#refresh();
    return this.#f64;
  }
  i32(): Int32Array {
    this.#refresh();
    return this.#i32;
  }
  u32(): Uint32Array {
    this.#refresh();
    return this.#u32;
  }

  /** Allocates `bytes` (16-byte aligned) in the module's heap; freed by `reset`. */
  alloc(bytes: number): number {
    return this.exports.scratchAlloc(bytes);
  }

  /** Frees every allocation; call after each kernel call once its results are copied out. */
  reset(): void {
    this.exports.scratchReset();
  }

  /** Copies `src` into a fresh allocation and returns its pointer. */
  writeF64(src: Float64Array): number {
    const ptr = this.alloc(src.length * 8);
    this.f64().set(src, ptr >>> 3);
    return ptr;
  }

  writeBytes(src: Uint8Array): number {
    const ptr = this.alloc(Math.max(src.length, 1));
    this.u8().set(src, ptr);
    return ptr;
  }

  /** Copies `n` float64s at `ptr` out into a new array. */
  readF64(ptr: number, n: number): Float64Array {
    return this.f64().slice(ptr >>> 3, (ptr >>> 3) + n);
  }

  readBytes(ptr: number, n: number): Uint8Array {
    return this.u8().slice(ptr, ptr + n);
  }
}

const instances = new Map<string, WasmInstance<ScratchExports>>();

/** The calling thread's instance of `build/<name>.wasm`. */
export function wasmInstance<E extends ScratchExports>(name: string): WasmInstance<E> {
  let inst = instances.get(name);
  if (inst === undefined) {
    inst = new WasmInstance<ScratchExports>(loadWasmModule(name));
    instances.set(name, inst);
  }
  return inst as WasmInstance<E>;
}
