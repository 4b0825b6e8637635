// Express and the SDK's authorization server, which only MCP_HTTP_AUTH=oauth needs (a megabyte
// of code): scripts/build.mjs bundles this file on its own, as dist/oauth.cjs, so no other start
// loads it. Everything of them the server uses comes through here.

export {
  CustomOAuthError,
  InvalidClientMetadataError,
  InvalidGrantError,
  InvalidTargetError,
  InvalidTokenError,
  OAuthError,
  ServerError,
} from "@modelcontextprotocol/sdk/server/auth/errors.js";
export { requireBearerAuth } from "@modelcontextprotocol/sdk/server/auth/middleware/bearerAuth.js";
export {
  getOAuthProtectedResourceMetadataUrl,
  mcpAuthRouter,
} from "@modelcontextprotocol/sdk/server/auth/router.js";
export { default as express } from "express";
