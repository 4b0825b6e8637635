export { TOOL_NAMES } from "../src/tools/all.js";
