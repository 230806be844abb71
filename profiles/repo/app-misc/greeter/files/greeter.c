#include <stdio.h>
#include <greet.h>
int main(void) { printf("%s (abi %d)\n", greet_message(), greet_abi()); return 0; }
