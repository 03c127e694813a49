/** Returns the absolute path of a shared fixture, and throws if it does not exist. */
export declare function sharedPath(...parts: string[]): string;
