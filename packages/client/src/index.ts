export * from './types.generated.js';
export * from './client.js';
