// Keeps every number in a vector of strings, copied many times over.
#include <iostream>
#include <string>
#include <vector>

int main()
{
	long long n, x, sum = 0;
	std::cin >> n;
	std::vector<std::vector<long long>> copies;
	std::vector<long long> xs;
	for (long long i = 0; i < n && std::cin >> x; i++) {
		xs.push_back(x);
		sum += x;
	}
	for (int k = 0; k < 64; k++)
		copies.push_back(std::vector<long long>(1 << 20, k)); // 8 MiB each
	std::cout << sum << "\n";
}
