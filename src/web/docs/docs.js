// Renders this server's /openapi.json with Swagger UI (served by allot from its npm package).
/* global SwaggerUIBundle */
window.addEventListener('DOMContentLoaded', () => {
  SwaggerUIBundle({
    url: '/openapi.json',
    dom_id: '#reference',
    deepLinking: true,
    displayOperationId: true,
    defaultModelsExpandDepth: 1,
    defaultModelExpandDepth: 2,
    docExpansion: 'list',
    filter: true,
    showCommonExtensions: true,
    // No request leaves for the public validator badge.
    validatorUrl: null,
  });
});
