/** `emms keygen --output FILE`: a new master key for encryption at rest (src/cli/encryption_command.ts). */
export { runKeygen as run } from './encryption_command.js';
