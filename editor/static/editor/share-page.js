// The sharing page on its own (templates/editor/share.html): its copy buttons. In the
// editor's share dialog, share.js does this for the same markup.
import { enhanceCopyButtons } from "./share.js";

enhanceCopyButtons(document);
