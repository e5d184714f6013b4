// The toolkit's version, from its package.json at build time (every bundler inlines the one field),
// so Node and a page stamp the same string into the graphs and manifests they write.
import { version } from '../package.json';

export const VERSION: string = version;
