/** Whether this Node runs on glibc (what the allocator settings of src/compute/allocator.ts need). */
export const glibc = (process.report.getReport() as { header?: { glibcVersionRuntime?: string } }).header?.glibcVersionRuntime !== undefined;
