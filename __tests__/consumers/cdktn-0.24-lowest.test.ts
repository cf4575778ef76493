import { describeConsumer } from "./consumer-suite";

describeConsumer("cdktn-0.24-lowest");
