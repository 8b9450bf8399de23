/* Minimal Cortex-M4 start-up for QEMU's mps2-an386 board: the vector table, the FPU
 * switched on, then newlib's _start (rdimon: semihosting for arguments, files, exit). */
#include <stdint.h>

extern void _start(void);
extern uint32_t __stack[];

void Reset_Handler(void);
void Default_Handler(void);

void Reset_Handler(void) {
  /* CP10 and CP11 full access before any floating-point instruction runs */
  *(volatile uint32_t *)0xE000ED88u |= 0xFu << 20;
  __asm__ volatile("dsb\n\tisb" ::: "memory");
  _start();
  for (;;) {
  }
}

void Default_Handler(void) {
  for (;;) {
  }
}

typedef void (*vector_fn)(void);

__attribute__((section(".vectors"), used)) const uintptr_t ecl_vectors[16] = {
    (uintptr_t)__stack,          (uintptr_t)Reset_Handler,   (uintptr_t)Default_Handler,
    (uintptr_t)Default_Handler,  (uintptr_t)Default_Handler, (uintptr_t)Default_Handler,
    (uintptr_t)Default_Handler,  0, 0, 0, 0,
    (uintptr_t)Default_Handler,  (uintptr_t)Default_Handler, 0,
    (uintptr_t)Default_Handler,  (uintptr_t)Default_Handler};
