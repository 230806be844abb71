/* Declares (like a glibc built with --enable-kernel=6.9) that it needs Linux >= 6.9.0. */
#include <stdio.h>
__asm__(".section .note.ABI-tag, \"a\"\n"
        ".p2align 2\n"
        ".long 4\n.long 16\n.long 1\n"
        ".asciz \"GNU\"\n"
        ".long 0\n.long 6\n.long 9\n.long 0\n"
        ".previous\n");
int main(void) { puts("I need a new kernel"); return 0; }
