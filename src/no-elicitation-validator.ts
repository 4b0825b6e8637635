import type { JsonSchemaType, jsonSchemaValidator } from "@modelcontextprotocol/sdk/validation";

/**
 * The SDK validates JSON Schemas only to check a client's answers to elicitation, and this server
 * never asks a client for input. Its default validator compiles an Ajv instance for every server
 * it makes (one per HTTP session, or per stateless request), to no use here; this one is passed
 * instead, and refuses loudly should elicitation ever be added.
 */
export const noElicitationValidator: jsonSchemaValidator = {
  getValidator(_schema: JsonSchemaType) {
    throw new Error(
      "ollama-cloud-mcp does not validate client-supplied JSON Schemas: it never asks for elicitation",
    );
  },
};
