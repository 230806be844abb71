#include <stdio.h>
int main(void) { puts("hello from the provision demo"); return 0; }
