// src/core/wasm_instance.ts imports these; web/build.mjs replaces them with browser stubs.
declare module 'node:fs' {
  export function readFileSync(path: string): Uint8Array;
}
declare module 'node:url' {
  export function fileURLToPath(url: URL | string): string;
}
