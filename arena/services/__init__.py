"""What both front ends call: battles, judging runs, leaderboards, imports."""
