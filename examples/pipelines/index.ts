/** The example pipelines that `npm run dev` serves. */
import greeter from "./greeter";
import sentences from "./sentences";
import sleep from "./sleep";
import slowStats from "./slow-stats";
import wordStats from "./word-stats";
import wordStatsMemory from "./word-stats-memory";

export const examplePipelines = [wordStats, sentences, sleep, wordStatsMemory, slowStats, greeter];
