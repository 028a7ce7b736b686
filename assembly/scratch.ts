// Scratch memory shared by every kernel of this module.
//
// The module is built with the stub runtime (a bump allocator, no GC): kernels never keep
// memory across calls, so the JS side (src/core/wasm_instance.ts) allocates the input and
// output regions of one call here and resets the whole heap when the call is done.
// Kernels may also call heap.alloc themselves for temporaries; the reset frees those too.

/** Allocates `bytes` bytes, 16-byte aligned; grows memory as needed. Returns the pointer. */
export function scratchAlloc(bytes: usize): usize {
  return heap.alloc(bytes);
}

/** Frees everything allocated since the module was instantiated. */
export function scratchReset(): void {
  heap.reset();
}
