// The function behind the `greeter` pipeline, written with StateFun's JavaScript SDK exactly as it
// would be for a Flink StateFun cluster: `example/greeter` keeps a per-name `seen` counter in
// StateFun state and emits a greeting to an egress.
import { StateFun, egressMessageBuilder } from "apache-flink-statefun";

export const GREETING = StateFun.jsonType("example/Greeting");

/** Binds `example/greeter` to a StateFun instance. */
export function bindGreeter(statefun) {
  statefun.bind({
    typename: "example/greeter",
    specs: [{ name: "seen", type: StateFun.intType() }],
    fn(context, message) {
      const name = message.asString();
      const seen = (context.storage.seen ?? 0) + 1;
      context.storage.seen = seen;
      context.send(
        egressMessageBuilder({
          typename: "example/greetings",
          value: { greeting: `Hello ${name}, I have seen you ${seen} times` },
          valueType: GREETING,
        }),
      );
    },
  });
}
