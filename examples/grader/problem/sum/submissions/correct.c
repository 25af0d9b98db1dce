// Reads n, then n integers, and prints their sum.
#include <stdio.h>

int main(void)
{
	long long n, x, sum = 0;
	if (scanf("%lld", &n) != 1)
		return 1;
	for (long long i = 0; i < n && scanf("%lld", &x) == 1; i++)
		sum += x;
	printf("%lld\n", sum);
	return 0;
}
