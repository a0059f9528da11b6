/** allot's version, shown by the CLI and in the OpenAPI document. */
export const VERSION = '0.1.0';
