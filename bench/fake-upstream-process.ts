// The fake ollama.com in a process of its own, as the real one is never inside the client's
// process. Prints its URL, and stops when its stdin closes.
import { FakeOllamaCloud } from "../test/fake-ollama-cloud.js";

const fake = await FakeOllamaCloud.start();
process.stdout.write(`${fake.url}\n`);
process.stdin.resume();
process.stdin.on("end", () => void fake.close().then(() => process.exit(0)));
