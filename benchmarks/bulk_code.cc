// FNHOST_BULK_MIB MiB of machine code that nothing calls, linked into a copy of the noop module
// (tests/modules/noop.cc) for BM_ColdStart/size:N: what a cold start of a module with a lot of
// code copies, checks and maps, without minutes of compiling generated functions.
#define FNHOST_BULK_TEXT(x) #x
#define FNHOST_BULK_BYTES(mib) FNHOST_BULK_TEXT(mib) " * 1048576"

asm(".pushsection .text.fnhost_bulk, \"ax\"\n"
    ".fill " FNHOST_BULK_BYTES(FNHOST_BULK_MIB) ", 1, 0\n"
    ".popsection\n");
