/* kvmbox entry point (placeholder until the VM core lands). */
#include <stdio.h>
int main(void)
{
	puts("kvmbox " KVMBOX_VERSION);
	return 0;
}
