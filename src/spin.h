/*
 * spin.h - the pause of a spinning wait (lesson 14's lock-free channel).
 */
#ifndef SPIN_H
#define SPIN_H

/* "I am spinning": lets the other hardware thread of the core run, and
 * saves power. Compilers have no portable way to say it. */
static inline void cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
	__builtin_ia32_pause();
#elif defined(__aarch64__)
	__asm__ __volatile__("yield");
#endif
}

#endif
