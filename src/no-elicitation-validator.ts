import type { JsonSchemaType, jsonSchemaValidator } from "@modelcontextprotocol/sdk/validation";

/**
 * The SDK validates JSON Schemas only for elicitation answers, and this server never asks a
 * client for input. Passing this instead of the SDK's Ajv validator keeps Ajv (a sixth of the
 * bundle) out of the build; should elicitation ever be added, this refuses loudly.
 */
export const noElicitationValidator: jsonSchemaValidator = {
  getValidator(_schema: JsonSchemaType) {
    throw new Error(
      "ollama-cloud-mcp does not validate client-supplied JSON Schemas: it never asks for elicitation",
    );
  },
};
