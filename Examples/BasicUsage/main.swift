// A small program using the library: a seeded random matrix product and a softmax.
import SpecDistill

Threads.configure()
var rng = RandomGenerator(seed: 42)
let x = Tensor(zeros: [4, 8])
let w = Tensor(zeros: [3, 8])
rng.fillNormal(x)
rng.fillNormal(w, std: 0.5)
let y = try matmul(x, w, transposeB: true)   // (4, 3) = x · wᵀ
print("x · wᵀ =", y)
