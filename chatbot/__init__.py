"""Offline customer-service chatbot: answers from your own FAQ documents."""
