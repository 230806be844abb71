#include "greet.h"
#ifndef GREET_ABI
#define GREET_ABI 1
#endif
const char *greet_message(void) { return "greetings from libgreet"; }
int greet_abi(void) { return GREET_ABI; }
