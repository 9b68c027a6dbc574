"""Vocabulary and text helpers shared by every layer; imports nothing else of chatbot."""
