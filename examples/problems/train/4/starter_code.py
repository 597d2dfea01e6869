class Solution:
    def longestRun(self, nums: List[int]) -> int:
        