export * from './types.generated.js';
export * from './client.js';
export { AllotApiError } from './errors.js';
export { aiSdkCallbacks, commitInput, Meter, usageInput, type MeteredOptions, type MeteredResult, type MeteredStream, type MeterOptions, type Settlement } from './meter.js';
export { aiSdkUsage, anthropicUsage, openaiUsage, totalTokens, type TokenUsage, type UsageMapper } from './usage.js';
