// Starts Swagger UI on /api/docs (a file, not an inline script: the console's CSP allows none).
window.addEventListener("load", function () {
  window.ui = SwaggerUIBundle({ url: "/api/openapi.json", dom_id: "#swagger-ui", deepLinking: true });
});
