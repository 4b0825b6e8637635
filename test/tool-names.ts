export { TOOL_NAMES } from "../src/tools/names.js";
