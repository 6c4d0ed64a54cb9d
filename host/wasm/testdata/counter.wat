;; `bump` increments a global and returns it: a fresh store per call always answers 1.
(component
  (core module $m
    (global $n (mut i32) (i32.const 0))
    (memory 1)
    (func (export "bump") (result i32)
      (global.set $n (i32.add (global.get $n) (i32.const 1)))
      (global.get $n)))
  (core instance $i (instantiate $m))
  (func (export "bump") (result u32) (canon lift (core func $i "bump"))))
